# syntax=docker/dockerfile:1
# The gateway as a production image: the package `npm pack` builds (compiled dist/, no TypeScript),
# installed with `npm ci --omit=dev`, run by node as PID 1 (SIGTERM reaches it: graceful shutdown)
# as the unprivileged `node` user, data under the /data volume. See README "Deploying".

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md ./
COPY scripts ./scripts
COPY bin ./bin
COPY wsdl ./wsdl
COPY assets ./assets
COPY examples ./examples
COPY migrations ./migrations
COPY src ./src
# bench/ is compiled by the build and uses a test helper; neither is in the package.
COPY bench ./bench
COPY test/helpers ./test/helpers
RUN npm pack --pack-destination /tmp \
 && mkdir /app \
 && tar -xzf /tmp/altinn-gateway-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json /app/

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080
WORKDIR /app
COPY --from=build /app ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && ln -s /app/bin/altinn-gateway.js /usr/local/bin/altinn-gateway \
 && mkdir -p /data \
 && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "/app/bin/altinn-gateway.js", "serve"]
