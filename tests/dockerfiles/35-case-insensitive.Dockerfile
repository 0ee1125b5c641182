from alpine:3.19 as base
run echo lower
Run echo mixed
cOpY . /src
workdir /src
env KEY=value
label a=b
expose 8080
user nobody
cmd ["sh"]
From base AS final
Entrypoint ["/bin/sh", "-c"]
