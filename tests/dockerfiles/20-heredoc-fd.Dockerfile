FROM alpine
RUN 3<<EOF cat /dev/fd/3
fd three
EOF
RUN cat <&4 4<<EOF
fd four
EOF
