FROM python:3.12-alpine
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
RUN python3 /dev/fd/3 3<<'PY' <<'SH'
print("hello from python")
PY
echo from sh
SH
