ARG VERSION
ARG DEBIAN_FRONTEND=noninteractive
FROM debian:bookworm
ARG USER=app UID=1000 GID=1000
ARG QUOTED="a quoted default" SINGLE='single'
ARG EMPTY=
ARG ESCAPED=with\ space
RUN echo $VERSION $USER $UID
