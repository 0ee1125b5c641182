FROM alpine
  # two spaces
	# a tab
#tight
RUN echo a \
  # inside, indented
	# inside, tab
  b
