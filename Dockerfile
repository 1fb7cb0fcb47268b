# One image for every kmarket service; docker-compose.yml picks the entry point with `command`.
#   docker build -t kmarket .
#   docker run --rm kmarket node dist/producers/simulator/main.js
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    METRICS_HOST=0.0.0.0
WORKDIR /app

# Dependencies first (cached while package*.json are unchanged); devDependencies are needed for tsc.
# patches/ before npm ci: its postinstall applies them (patch-package) to kafkajs.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --include=dev --no-audit --no-fund

# Only the sources the services need (explicit so .stack/, node_modules/ and dist/ never enter the image).
COPY tsconfig.json ./
COPY lib ./lib
COPY schemas ./schemas
COPY producers ./producers
COPY stream-processors ./stream-processors
COPY sinks ./sinks
# The fake KRX server: compose's KRX poller reads it when no KRX account is configured.
COPY test/fakes/krx ./test/fakes/krx
RUN npm run build && npm prune --omit=dev && npm cache clean --force

USER node
CMD ["node", "dist/producers/simulator/main.js"]
