# syntax=docker/dockerfile:1
FROM python:3.12
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    pip install -r /tmp/requirements.txt
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc,required=true npm ci
RUN --mount=type=ssh git clone git@github.com:example/private.git
RUN --network=none --security=sandbox make test
RUN --mount=type=tmpfs,target=/tmp --network=host echo ok
