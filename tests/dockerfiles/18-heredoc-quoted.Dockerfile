FROM alpine
ENV NAME=world
RUN <<'EOF'
echo "no expansion: $NAME"
EOF
RUN <<"EOF"
echo "also literal: ${NAME}"
EOF
RUN <<E"O"F
partially quoted disables expansion: $NAME
EOF
RUN <<EOF
echo "expanded: $NAME"
EOF
