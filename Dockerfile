# syntax=docker/dockerfile:1
# Build stage: has the toolchain node-pty needs (python3, make, g++) and the Node headers of the image.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci also builds the four small addons (src/native/termios, asciicast, spawn, ptyread), so their sources come first.
COPY src/native ./src/native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: no compiler, a non-root user, only what runs.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash tini openssh-sftp-server \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bastion \
 && useradd --system --uid 10001 --gid bastion --create-home --home-dir /home/bastion --shell /bin/bash bastion \
 && mkdir -p /var/lib/bastion /etc/bastion \
 && chown bastion:bastion /var/lib/bastion && chmod 0700 /var/lib/bastion
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/src/native/termios/build/Release/termios.node ./src/native/termios/build/Release/termios.node
COPY --from=build /app/src/native/asciicast/build/Release/asciicast.node ./src/native/asciicast/build/Release/asciicast.node
COPY --from=build /app/src/native/spawn/build/Release/spawn.node ./src/native/spawn/build/Release/spawn.node
COPY --from=build /app/src/native/ptyread/build/Release/ptyread.node ./src/native/ptyread/build/Release/ptyread.node
COPY package.json config.example.yaml ./
COPY keys.example ./keys.example
ENV NODE_ENV=production
USER bastion
EXPOSE 2222 8022
# Healthy when the SSH port answers with an SSH banner (a banner-only connection is not audited).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const s=require('net').connect(process.env.BASTION_HEALTH_PORT||2222,'127.0.0.1');s.setTimeout(4000,()=>process.exit(1));s.on('error',()=>process.exit(1));s.once('data',d=>{s.destroy();process.exit(String(d).startsWith('SSH-2.0-')?0:1)})"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--initial-old-space-size=128", "dist/src/cli.js"]
# Mount your config (and the keys it names) at /etc/bastion and set data_dir: /var/lib/bastion in it.
CMD ["serve", "--config", "/etc/bastion/config.yaml"]
