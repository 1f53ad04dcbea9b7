import sys

sys.path.insert(0, "/opt/healthmate-standin")
import backend  # noqa: E402  (the stand-in lives outside /app, which dev bind-mounts)

backend.main(["uvicorn", *sys.argv[1:]])
