# The training image: the locked environment and this repository, for Dagster's Kubernetes Pipes client (one pod of
# deploy/k8s/trainer-job.yaml per training stage) and for `kubectl create -f` of the same Job.
#   docker build -t registry.example.com/janusflow:$(git rev-parse --short HEAD) .
# PyPI's torch wheel carries its CUDA libraries; the node's NVIDIA container runtime supplies the driver.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    DAGSTER_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps --no-build-isolation -e .

CMD ["python", "-m", "orchestration.pipes_stage", "--help"]
