FROM alpine
COPY ["src file with spaces.txt", "dest dir/"]
COPY ["a.txt", "b.txt", "/multi/"]
ADD ["local.tar", "/extract/"]
COPY --chown=1:1 ["x", "/y"]
