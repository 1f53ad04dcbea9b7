import runpy
import socket
import sys
import threading


def listen(address):
    host, _, port = address.rpartition(":")
    server = socket.create_server((host or "0.0.0.0", int(port)))

    def accept():
        while True:
            connection, _ = server.accept()
            connection.close()

    threading.Thread(target=accept, daemon=True).start()


args = sys.argv[1:]
if "--listen" in args:
    listen(args[args.index("--listen") + 1])
if "-m" not in args:
    sys.exit("debugpy stand-in: expected -m MODULE")
module_index = args.index("-m") + 1
sys.argv = [args[module_index], *args[module_index + 1 :]]
runpy.run_module(args[module_index], run_name="__main__", alter_sys=True)
