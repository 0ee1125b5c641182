FROM alpine
RUN addgroup -S app -g 1001 && adduser -S app -u 1001 -G app
USER 1001:1001
USER app
USER app:app
USER ${UID}:${GID}
USER root
