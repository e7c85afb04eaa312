# syntax=docker/dockerfile:1
# Switchyard gateway. The build context is the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t switchyard-gateway .
# BuildKit reads gateway.Dockerfile.dockerignore beside this file (a .dockerignore
# here would not be used: Docker looks for that name at the context root only).

FROM node:20-bookworm-slim AS build
# onnxruntime-node's install script only downloads the CUDA provider: never here.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm install -g pnpm@12.21.0
WORKDIR /repo
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm build
# The gateway with its production dependencies only (workspace packages injected
# with their dist): /out/dist, /out/node_modules, /out/package.json.
RUN pnpm --filter @switchyard/gateway deploy --prod /out

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    SWITCHYARD_CONFIG=/etc/switchyard/gateway.yaml
WORKDIR /app
COPY --from=build /out/package.json ./package.json
COPY --from=build /out/node_modules ./node_modules
COPY --from=build /out/dist ./dist
# Default storage.url target of the compose stack; owned by node so a named volume
# mounted here starts writable.
RUN mkdir -p /var/lib/switchyard/storage /etc/switchyard \
    && chown -R node:node /var/lib/switchyard
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
