# Stand-in for prom/blackbox-exporter: Debian's package under the official path and default config flag.
ARG BASE
FROM ${BASE}
USER nobody
EXPOSE 9115
ENTRYPOINT ["/bin/blackbox_exporter"]
CMD ["--config.file=/etc/blackbox_exporter/config.yml"]
