# dvdi-sidecar: the per-task volume sidecar (`dvdi sidecar` by default).
#
# Build (ordinary path: dependencies from the npm registry, build inside the image):
#   docker build -t dvdi-sidecar .
# Build where the npm registry is out of reach (DEPS=host): the context must hold a built
# dist/, a production-only node_modules/, package.json and scripts/prune-runtime-modules.mjs,
# e.g. prepared in a staging directory
#   npm run build && mkdir -p STAGE/scripts && cp -a dist package.json package-lock.json node_modules STAGE/
#   cp scripts/prune-runtime-modules.mjs STAGE/scripts/ && (cd STAGE && npm prune --omit=dev --offline)
#   docker build --build-arg DEPS=host -f Dockerfile STAGE
# (STAGE, not the repository, is the context: .dockerignore keeps node_modules/ and dist/ out
# of the ordinary path's context.) NODE_IMAGE selects the base (default node:22-bookworm-slim).
#
# Run (least privilege: CAP_SYS_ADMIN only, never --privileged):
#   docker run -d --name dvdi-sidecar \
#     --cap-add SYS_ADMIN --security-opt apparmor=unconfined \
#     -v ROOT:ROOT:rshared \
#     -v /run/docker/plugins:/run/docker/plugins \
#     -v PLUGIN_MOUNTS:PLUGIN_MOUNTS:rslave \
#     --network host \
#     -e DVDI_MOUNT_ROOT=ROOT -e DVDI_VOLUME_NAME=... -e DVDI_VOLUME_DRIVER=... \
#     dvdi-sidecar
# ROOT (default /var/lib/dvdi/volumes) must be an rshared mount on the host
# (`mount --bind ROOT ROOT && mount --make-rshared ROOT`); the app container mounts
# `-v ROOT/<volume>:/data:rslave` and waits for readiness (`dvdi wait`, or GET /readyz).
# PLUGIN_MOUNTS is where the volume plugin mounts volumes on the host (REX-Ray:
# /var/lib/rexray/volumes; managed plugins: <DockerRootDir>/plugins), so the sidecar can bind
# them. With DVDI_TASK_CONTAINER (labels, exit when the app container ends) or managed plugins,
# also mount the engine: -v /var/run/docker.sock:/var/run/docker.sock. Without --network host,
# give it a reachable DVDI_REDIS_URL and publish DVDI_HTTP_ADDR's port.

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
# registry: npm ci + build + prune here. host: take dist/ and a production node_modules/ from
# the context as they are (see above).
ARG DEPS=registry
WORKDIR /build
COPY . .
# dist/ is a bundle (scripts/bundle.mjs): node_modules/ keeps only what it loads from there
# (scripts/prune-runtime-modules.mjs).
# One stage with a switch rather than one stage per path: the legacy builder (no BuildKit, as
# here) builds every stage of the file, so a separate `npm ci` stage would fail the host path.
RUN set -eu; \
    case "$DEPS" in \
      registry) \
        npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund ;; \
      host) \
        if [ ! -f dist/cli/dvdi.js ] || [ ! -d node_modules ]; then \
          echo "DEPS=host: the build context needs dist/ (npm run build) and a production node_modules/ (see the top of this Dockerfile)" >&2; exit 1; \
        fi ;; \
      *) echo "DEPS must be registry or host, not '$DEPS'" >&2; exit 1 ;; \
    esac; \
    node scripts/prune-runtime-modules.mjs .; \
    for dev in typescript ava tsx eslint esbuild; do \
      if [ -e "node_modules/$dev" ]; then echo "node_modules/$dev is a dev dependency: the image takes production dependencies only" >&2; exit 1; fi; \
    done; \
    find node_modules -mindepth 1 -type d -empty -delete

FROM ${NODE_IMAGE} AS runtime
# tini: PID 1 that forwards signals to node and reaps zombies (mount helpers, mkfs).
# util-linux/mount: mount, umount, losetup, findmnt. e2fsprogs, xfsprogs: mkfs for the loop backend.
# apt-get runs only for what the base lacks: node:22-bookworm-slim lacks tini and xfsprogs, so
# the ordinary build installs them; an offline stand-in base that already has them (the e2e
# tests' debootstrapped image, built where no apt mirror is reachable from `docker build`)
# skips apt entirely.
RUN set -eu; \
    missing=""; \
    for pair in tini:tini mount:mount umount:mount losetup:mount findmnt:util-linux mkfs.ext4:e2fsprogs mkfs.xfs:xfsprogs; do \
      command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"; \
    done; \
    if [ -n "$missing" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $missing && rm -rf /var/lib/apt/lists/*; \
    fi; \
    tini --version && mount --version && findmnt --version && mkfs.ext4 -V 2>&1 | head -n 1
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /build/package.json ./package.json
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/dist ./dist
RUN ln -s /app/dist/cli/dvdi.js /usr/local/bin/dvdi && ln -s /app/dist/cli/dvdcli.js /usr/local/bin/dvdcli \
    && chmod +x /app/dist/cli/dvdi.js /app/dist/cli/dvdcli.js
# node >= 22.1 keeps the bundle's compiled code here and reads it at start: made now by loading
# every chunk under the ENTRYPOINT's flags (V8 refuses a cache made under other flags). Measured
# on node 22.23: start -> ready 233 ms against 244 ms without (bench, 8 runs). Older nodes
# ignore the variable; a read-only root filesystem only stops it from adding to the cache.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN node --no-opt --max-semi-space-size=1 --input-type=module -e \
      "import { readdirSync } from 'node:fs'; for (const f of readdirSync('/app/dist/chunks')) if (f.endsWith('.js')) await import('/app/dist/chunks/' + f);"
EXPOSE 9650
# /livez answers on DVDI_HTTP_ADDR; a 0.0.0.0 or :: listener is probed on loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const a=process.env.DVDI_HTTP_ADDR||'0.0.0.0:9650';const i=a.lastIndexOf(':');let h=a.slice(0,i).replace(/^\\[|\\]$/g,'');if(h===''||h==='0.0.0.0'||h==='::')h='127.0.0.1';require('http').get({host:h,port:Number(a.slice(i+1)),path:'/livez',timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
# Node flags for one small process per task (bench/sidecar-startup.bench.ts --node-args, README
# "Start-up and memory"): --no-opt keeps V8's optimizing compiler (and the binary's pages it runs
# from) out of a process that computes little; --max-semi-space-size=1 keeps the young generation
# small. Together -16 MiB RSS at ready on node 22.23, start -> ready unchanged within noise.
# No --enable-source-maps by default: on node 22 it cost 4-10 MiB more; the maps are shipped
# beside the bundle, so NODE_OPTIONS=--enable-source-maps gives stack traces that name src/.
ENTRYPOINT ["tini", "--", "node", "--no-opt", "--max-semi-space-size=1", "/app/dist/cli/dvdi.js"]
CMD ["sidecar"]
