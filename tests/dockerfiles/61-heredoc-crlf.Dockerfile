FROM alpine
RUN <<EOF
echo one
echo two
EOF
COPY <<EOF /x.txt
windows line
EOF
CMD ["cat", "/x.txt"]
