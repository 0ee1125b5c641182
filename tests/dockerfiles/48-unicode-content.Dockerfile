FROM alpine
LABEL description="Ünïcödé läbel ✓" author="José Martínez" 名前="値"
RUN echo "héllo wörld ✓ 🐳" > /greeting
ENV GRÜSSE=hallo
CMD ["echo", "日本語のテキスト"]
