FROM ubuntu:22.04
RUN apt-get update && apt-get install -y \
    # build tools
    build-essential \
    # the compiler we need
    clang \
  # indented comment
    cmake \
    && rm -rf /var/lib/apt/lists/*
# a normal comment
ENV A=1 \
# comment inside ENV
    B=2
