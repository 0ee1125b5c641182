FROM alpine
ENV MSG="He said \"hi\"" PATH_WIN=C:\\tools TAB="a\tb"
ENV SQ='it'"'"'s' DOLLAR="\$HOME" BRACES=${HOME}/x
LABEL json='{"key": "value", "n": 1}'
