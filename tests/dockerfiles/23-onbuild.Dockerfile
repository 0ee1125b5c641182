FROM node:20
WORKDIR /app
ONBUILD COPY package*.json ./
ONBUILD RUN npm install
ONBUILD RUN --mount=type=cache,target=/root/.npm npm ci
ONBUILD COPY --chown=node:node . .
ONBUILD ENV NODE_ENV=production
ONBUILD CMD ["node", "index.js"]
onbuild label built.from=onbuild
