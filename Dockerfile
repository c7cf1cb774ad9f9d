# One image for the api, worker and projector services (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CLOSELOOP_DATA_DIR=/var/lib/closeloop

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY workflows ./workflows
COPY projections ./projections
COPY notify ./notify
COPY api ./api
COPY closeloop ./closeloop
COPY web ./web
RUN pip install . \
    && useradd --system --home-dir /var/lib/closeloop --create-home closeloop \
    && install -d -o closeloop -g closeloop -m 0700 /var/lib/closeloop/media

USER closeloop
EXPOSE 8000
# The role is the command: closeloop api | worker | projector | migrate | bootstrap
ENTRYPOINT ["closeloop"]
CMD ["api"]
