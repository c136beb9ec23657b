// The nginx config of one portal instance in the data-volume layout, modelled on the portal's
// provision/files/nginx_site.conf. TLS, the HTTP → HTTPS redirect, HSTS and X-Frame-Options are
// the host's edge proxy's (caddyfile.ts), so this server listens on plain HTTP inside the
// container; the seed's other settings (the 20 MB body limit, gzip, 120 s to the backend) are here.
import { MOUNT_TABLE } from "./layout";

export interface NginxConfigArgs {
    /** server_name: the instance's domain. */
    readonly domain: string;
    /** More server names: the instance's aliases. @default [] */
    readonly aliases?: readonly string[];
    /** The backend's container name on the instance network. */
    readonly backendHost: string;
    /** The port the backend listens on inside its container. */
    readonly backendPort: number;
}

/** The in-container path of a mount, read from the mount table so the config and the mounts agree. */
function nginxPath(what: string): string {
    const row = MOUNT_TABLE.nginx.find((r) => r.what === what);
    if (row === undefined) throw new Error(`nginx mount table has no "${what}" entry`);
    return row.target;
}

/** The port nginx listens on inside its container. */
export const NGINX_PORT = 80;

/** Renders nginx.conf for one instance: its server block in the http {} wrapper. Pure. */
export function renderNginxConfig(args: NginxConfigArgs): string {
    return renderNginxHttp(`for ${args.domain}`, [renderNginxServer(args)]);
}

/**
 * The whole nginx.conf around server blocks (as renderNginxServer gives them): process, events
 * and http settings. `about` completes the header's "Rendered by housing-portal infra …" line.
 */
export function renderNginxHttp(about: string, servers: readonly string[]): string {
    return `# Rendered by housing-portal infra ${about}. Do not edit on the host: run pulumi up.
worker_processes auto;
pid /var/run/nginx.pid;
error_log stderr warn;

events {
  worker_connections 1024;
}

http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log /dev/stdout;
  server_tokens off;
  sendfile on;
  client_max_body_size 20M;

  # Temporary files on the container's tmpfs (its root file system is read-only): the official
  # image's paths, spelled out so that every build (Debian's has /var/lib/nginx) writes there.
  client_body_temp_path /var/cache/nginx/client_temp;
  proxy_temp_path /var/cache/nginx/proxy_temp;
  fastcgi_temp_path /var/cache/nginx/fastcgi_temp;
  uwsgi_temp_path /var/cache/nginx/uwsgi_temp;
  scgi_temp_path /var/cache/nginx/scgi_temp;

  gzip on;
  gzip_vary on;
  gzip_proxied any;
  gzip_comp_level 4;
  gzip_types application/vnd.mapbox-vector-tile application/javascript application/json text/plain text/css text/xml application/xml text/javascript image/svg+xml;

  # Docker's embedded DNS: the backend is looked up when a request needs it, so nginx starts
  # (and passes nginx -t) while the backend is still starting or being replaced. Kept for a
  # second only: while a backend is replaced the name has two addresses, then only the new one.
  resolver 127.0.0.11 valid=1s ipv6=off;

  # Behind the edge the request came over HTTPS: keep the scheme the edge saw (direct, in dev: ours).
  map $http_x_forwarded_proto $forwarded_proto {
    default $http_x_forwarded_proto;
    "" $scheme;
  }

${servers.join("\n")}}
`;
}

/** One instance's server block, indented for the http {} block. Pure; the same arguments give the same text. */
export function renderNginxServer(args: NginxConfigArgs): string {
    const exportsDir = nginxPath("exports");
    const imagesDir = nginxPath("images");
    const droneDir = nginxPath("drone");
    const tilesDir = nginxPath("tiles");
    return `  server {
    listen ${NGINX_PORT};
    server_name ${[args.domain, ...(args.aliases ?? [])].join(" ")};
    charset utf-8;

    root /usr/share/nginx/html;
    index index.html;

    add_header X-Content-Type-Options nosniff;

    # frontend (its build is part of the nginx image)
    location / {
      add_header Cache-Control "no-store";
      expires 0;
      try_files $uri $uri/ @rewrites;
    }

    location @rewrites {
      rewrite ^(.+)$ /index.html last;
    }

    # backend
    location ~ ^/(admin|api) {
      set $backend_upstream http://${args.backendHost}:${args.backendPort};
      proxy_pass $backend_upstream;
      proxy_redirect off;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $server_name;
      proxy_set_header X-Forwarded-Proto $forwarded_proto;
      proxy_http_version 1.1;
      proxy_read_timeout 120;
      # A backend that does not accept the connection (the old one, stopping) is not an answer:
      # the request goes to the name's next address (nginx never resends a request it has sent).
      proxy_connect_timeout 5s;
      proxy_next_upstream error timeout;
      add_header Cache-Control "no-cache, private, must-revalidate";
    }

    # backend static files and uploads
    location ^~ ${nginxPath("staticfiles")}/ {
      alias ${nginxPath("staticfiles")}/;
    }

    location ^~ ${nginxPath("media")}/ {
      alias ${nginxPath("media")}/;
    }

    location ^~ /dev-docs/ {
      alias ${nginxPath("docs html")}/dev/;
      add_header Cache-Control "private, no-cache";
    }

    location ^~ /user-docs/ {
      alias ${nginxPath("docs html")}/user/;
      add_header Cache-Control "private, no-cache";
    }

    location ^~ /drone-viewer/ {
      default_type "text/html";
      alias ${nginxPath("drone viewer pages")}/;
      add_header Cache-Control "private, no-cache";
    }

    # xyz tiles
    location ~ ^/\\d+/\\d+/\\d+\\.png$ {
      root ${tilesDir}/drone;
    }

    # files the backend hands out with X-Accel-Redirect
    location ^~ /protected/exports/ {
      internal;
      alias ${exportsDir}/;
      add_header Cache-Control "no-store";
    }

    location ^~ /protected/images/ {
      internal;
      alias ${imagesDir}/;
      add_header Cache-Control "private, must-revalidate, max-age=604800";
    }

    location ^~ /protected/drone/ {
      internal;
      alias ${droneDir}/;
      add_header Cache-Control "private, must-revalidate, max-age=604800";
    }
  }
`;
}
