FROM ruby:3.3-slim
RUN apt-get update -qq && apt-get install -y --no-install-recommends \
      build-essential libpq-dev nodejs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /rails
ENV RAILS_ENV="production" \
    BUNDLE_DEPLOYMENT="1" \
    BUNDLE_PATH="/usr/local/bundle" \
    BUNDLE_WITHOUT="development:test"
COPY Gemfile Gemfile.lock ./
RUN bundle install && \
    rm -rf ~/.bundle/ "${BUNDLE_PATH}"/ruby/*/cache
COPY . .
RUN SECRET_KEY_BASE_DUMMY=1 ./bin/rails assets:precompile
EXPOSE 3000
CMD ["./bin/rails", "server", "-b", "0.0.0.0"]
