# leading comment
#no space comment
   # indented comment

FROM alpine # not a comment: part of the argument
# between instructions
RUN echo "# not a comment either" # also not
    # indented comment line

#
RUN echo done
# trailing comment