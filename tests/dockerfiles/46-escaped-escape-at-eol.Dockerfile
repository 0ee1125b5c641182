FROM alpine
RUN echo literal backslash \\
RUN echo next instruction
RUN echo three backslashes do not continue either \\\
RUN echo BuildKit wants a non-escape before the final escape
RUN echo but one does \
    and this continues
