FROM alpine
COPY --chown=1000:1000 --chmod=755 entry.sh /usr/local/bin/
COPY --link --from=builder /out/ /app/
COPY --chown=app:app --link=true src/ /src/
COPY --parents --exclude=*.md --exclude=docs/ ./ /dst/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/file.tar.gz /tmp/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit
ADD --unpack=false archive.tar.gz /opt/
