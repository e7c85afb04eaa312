# syntax=docker/dockerfile:1
# Switchyard worker with onnxruntime-node's CUDA execution provider (CUDA 12, cuDNN 9).
# The build context is the repository root:
#   docker build -f deploy/docker/worker-cuda.Dockerfile -t switchyard-worker-cuda .
# BuildKit reads worker-cuda.Dockerfile.dockerignore beside this file.
# Run with a GPU: docker run --gpus all IMAGE [serve] [flags] (same commands as the CPU image).

FROM node:20-bookworm-slim AS build
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm install -g pnpm@12.21.0
WORKDIR /repo
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm build
RUN pnpm --filter @switchyard/worker deploy --prod /out
# This image only: fetch the CUDA provider libraries (libonnxruntime_providers_cuda.so,
# ..._shared.so) into onnxruntime-node's bin folder. `cuda12` is onnxruntime-node
# 1.30's manifest name (ONNXRUNTIME_NODE_INSTALL_CUDA=v12 is its deprecated spelling).
RUN cd "$(readlink -f /out/node_modules/onnxruntime-node)" \
    && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js \
    && test -f bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04 AS runtime
# Node 20 from the official image (its binary needs only glibc 2.28).
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
RUN groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_ENV=production \
    SWITCHYARD_DEVICE=cuda
WORKDIR /app
COPY --from=build /out/package.json ./package.json
COPY --from=build /out/node_modules ./node_modules
COPY --from=build /out/dist ./dist
COPY --from=build /repo/examples/models/iris-v1 /opt/ml/model
COPY deploy/docker/worker-entrypoint.sh /usr/local/bin/switchyard-worker-entrypoint
USER node
EXPOSE 9464 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["node", "-e", "const get=(p,u)=>fetch('http://127.0.0.1:'+p+u).then(r=>r.ok);get(9464,'/health').catch(()=>get(process.env.SAGEMAKER_BIND_TO_PORT||8080,'/ping')).then(ok=>process.exit(ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/switchyard-worker-entrypoint"]
