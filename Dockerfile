# skelrec web app on a GPU:   docker build -t skelrec . && docker run --gpus all -p 7860:7860 -v skelrec-cache:/cache skelrec
# The image cannot be built on the project's build machines (no Docker engine); it is kept correct by review and
# hadolint (see docs/development.md, "Docker").
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/cache/huggingface \
    SKELREC_CACHE=/cache/skelrec \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860

# Python 3.12, and the shared libraries OpenCV/MediaPipe load (libGL, glib).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# torch first, pinned, from PyTorch's CUDA 12.8 index (matches the base image's CUDA runtime).
RUN python3 -m venv "$VIRTUAL_ENV" \
    && pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cu128

WORKDIR /opt/skelrec
COPY pyproject.toml setup.py README.md ./
COPY skelrec ./skelrec
COPY app ./app
COPY weights ./weights
# The app ships the photo its example video is rendered from: no scikit-image needed.
RUN pip install .

RUN useradd --create-home --uid 1000 skelrec \
    && mkdir -p /cache \
    && chown skelrec:skelrec /cache
USER 1000:1000
VOLUME ["/cache"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["skelrec", "app", "--host", "0.0.0.0", "--port", "7860"]
