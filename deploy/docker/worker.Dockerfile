# syntax=docker/dockerfile:1
# Switchyard worker (CPU). The build context is the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t switchyard-worker .
# BuildKit reads worker.Dockerfile.dockerignore beside this file.
#
#   docker run IMAGE [flags]         consume the BullMQ queue (REDIS_URL) for the model
#   docker run IMAGE serve [flags]   SageMaker container server (GET /ping, POST /invocations)
# The model is SWITCHYARD_MODEL, else /opt/ml/model (where SageMaker mounts it; the
# example iris-v1 is baked in there), unless --model is passed.

FROM node:20-bookworm-slim AS build
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm install -g pnpm@12.21.0
WORKDIR /repo
COPY . .
RUN pnpm install --frozen-lockfile
# Also writes examples/models/*/model.onnx.
RUN pnpm build
RUN pnpm --filter @switchyard/worker deploy --prod /out

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SWITCHYARD_DEVICE=cpu
WORKDIR /app
COPY --from=build /out/package.json ./package.json
COPY --from=build /out/node_modules ./node_modules
COPY --from=build /out/dist ./dist
COPY --from=build /repo/examples/models/iris-v1 /opt/ml/model
COPY deploy/docker/worker-entrypoint.sh /usr/local/bin/switchyard-worker-entrypoint
USER node
# 9464: /health and /metrics of the queue consumer; 8080: the SageMaker server (serve).
EXPOSE 9464 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "const get=(p,u)=>fetch('http://127.0.0.1:'+p+u).then(r=>r.ok);get(9464,'/health').catch(()=>get(process.env.SAGEMAKER_BIND_TO_PORT||8080,'/ping')).then(ok=>process.exit(ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/switchyard-worker-entrypoint"]
