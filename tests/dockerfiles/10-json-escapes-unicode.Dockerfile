FROM busybox
CMD ["echo", "caf\u00e9", "tab\there", "quote\"d", "back\\slash", "slash\/", "new\nline", "emoji \ud83d\udc33", "日本語"]
ENTRYPOINT [ "sh" , "-c" ]
RUN ["sh", "-c", "printf '%s\\n' \"$HOME\""]
