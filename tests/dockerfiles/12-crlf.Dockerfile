FROM alpine:3.19
RUN apk add --no-cache \
      curl \
      bash
# comment
ENV A=1 \
    B=2
CMD ["bash"]
