# One image for web, workers and beat. TORCH_INDEX picks the PyTorch build:
# "cpu" for web and the audio worker, a CUDA index (e.g. "cu128") for the gpu worker.
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng libsndfile1 git curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_INDEX}" torch==2.13.0 \
 && pip install -r requirements.txt

COPY . .
ARG CROWDTEST_CODE_VERSION=unknown
ENV CROWDTEST_CODE_VERSION=${CROWDTEST_CODE_VERSION}
RUN CROWDTEST_INSECURE_DEFAULTS=1 python manage.py collectstatic --no-input

RUN useradd --create-home --uid 1000 crowdtest && mkdir -p /data/media /data/static && chown -R crowdtest /data
USER crowdtest
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
