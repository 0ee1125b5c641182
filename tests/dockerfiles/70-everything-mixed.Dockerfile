# syntax=docker/dockerfile:1
# escape=\
ARG BASE=alpine:3.19
FROM ${BASE} AS base
LABEL stage=base
ENV APP=/app \
    PATH=/app/bin:$PATH
WORKDIR $APP
COPY --link <<EOF bin/start
#!/bin/sh
echo starting
EOF
RUN chmod +x bin/start
VOLUME /app/data
EXPOSE 8080/tcp
USER 65534:65534
HEALTHCHECK --interval=30s CMD ["/app/bin/start", "--check"]
STOPSIGNAL SIGTERM
ONBUILD RUN echo child build
MAINTAINER nobody
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/app/bin/start"]
CMD ["--serve"]
