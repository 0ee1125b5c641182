FROM alpine
RUN echo bom at start
