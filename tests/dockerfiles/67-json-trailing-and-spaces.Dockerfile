FROM alpine
CMD   ["a", "b"]   
CMD ["a"]]
CMD ["x", "y"] && echo ignored
RUN ["echo",
