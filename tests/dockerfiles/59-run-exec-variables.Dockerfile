FROM alpine
ENV NAME=world
RUN ["sh", "-c", "echo hello $NAME"]
CMD ["echo", "$NAME is not expanded in exec form"]
ENTRYPOINT ["/bin/sh", "-c", "exec \"$0\" \"$@\"", "app"]
