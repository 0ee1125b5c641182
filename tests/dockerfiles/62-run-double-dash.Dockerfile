FROM alpine
RUN --network=host -- --looks-like-a-flag
RUN -- echo after double dash
RUN --network=none echo -- not a separator
