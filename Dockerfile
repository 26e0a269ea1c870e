# Gatehouse: one image for the hub, the gateways and the one-shot jobs of docker-compose.yml.
FROM node:20-slim AS deps
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY deploy ./deploy
RUN ln -s /app/bin/gatehouse.js /usr/local/bin/gatehouse \
 && mkdir -p /data /certs && chown node:node /data /certs
# The image's built-in non-root user; data and certificates live on volumes.
USER node
VOLUME ["/data", "/certs"]
EXPOSE 8883 8443 9600
ENTRYPOINT ["gatehouse"]
CMD ["--help"]
