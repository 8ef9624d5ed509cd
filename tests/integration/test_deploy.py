#!/usr/bin/python3
"""deploy/ checked with the tools that run here (no Docker engine, no cluster): the compose file parsed and its
references resolved, the systemd unit through systemd-analyze verify, the Kubernetes manifests against the fields
and values kabinetd needs, and every KABINET_* name in them known to `kabinetd config`; the Dockerfile's runtime
packages exist in Debian 12 and its COPY sources in the tree."""
import os, re, subprocess, sys, tempfile
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KABINETD = os.environ["KABINETD"]
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


table = subprocess.run([KABINETD, "config"], capture_output=True, text=True).stdout
KNOWN = set(re.findall(r"`(KABINET_[A-Z0-9_]+)`", table))
check(len(KNOWN) > 30, "kabinetd config names its variables (%d)" % len(KNOWN))


def known(name):
    base = name[:-5] if name.endswith("_FILE") else name
    return not name.startswith("KABINET_") or base in KNOWN


# ---------------------------------------------------------------- compose
compose = yaml.safe_load(open(os.path.join(ROOT, "deploy", "compose.yaml")))
services = compose["services"]
check({"redis", "postgres", "migrate", "kabinetd"} <= set(services), "compose has redis, postgres, migrate, kabinetd")
check("--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"],
      "compose's Redis keeps an append-only file")
for name, svc in services.items():
    for dep in (svc.get("depends_on") or {}):
        check(dep in services, "compose: %s depends on a defined service (%s)" % (name, dep))
    for sec in svc.get("secrets") or []:
        check(sec in compose.get("secrets", {}), "compose: %s's secret %s is defined" % (name, sec))
    env = svc.get("environment") or {}
    bad = [k for k in env if not known(k)]
    check(not bad, "compose: %s's KABINET_* names are kabinetd's (%s)" % (name, bad))
    for v in (svc.get("volumes") or []):
        src = v.split(":")[0]
        if src.startswith("."):
            check(os.path.isdir(os.path.normpath(os.path.join(ROOT, "deploy", src))), "compose: %s mounts %s" % (name, src))
check(all("healthcheck" in services[s] for s in ("redis", "postgres", "kabinetd")), "compose: stores and kabinetd have "
                                                                                   "health checks")

# ---------------------------------------------------------------- systemd
unit = open(os.path.join(ROOT, "deploy", "kabinetd.service")).read().replace("/usr/local/bin/kabinetd", KABINETD)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "kabinetd.service")
    open(path, "w").write(unit)
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
    noise = [l for l in (r.stdout + r.stderr).splitlines() if l.strip() and "kabinetd.service" in l]
    check(r.returncode == 0 and not noise, "systemd-analyze verify accepts the unit (%s)" % (noise or r.returncode))
envs = re.findall(r"^Environment=(KABINET_[A-Z0-9_]+)=", unit, re.M)
check(envs and all(known(e) for e in envs), "the unit's KABINET_* names are kabinetd's")

# ---------------------------------------------------------------- Kubernetes
docs = []
for f in sorted(os.listdir(os.path.join(ROOT, "deploy", "k8s"))):
    docs += [x for x in yaml.safe_load_all(open(os.path.join(ROOT, "deploy", "k8s", f))) if x]
kinds = {d["kind"]: d for d in docs}
check(all(d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name") for d in docs),
      "every manifest has apiVersion, kind and metadata.name")
check({"Deployment", "Service", "ConfigMap", "Secret"} <= set(kinds), "manifests: a Deployment, a Service, config "
                                                                    "and a Secret")
dep = kinds["Deployment"]["spec"]
c = dep["template"]["spec"]["containers"][0]
check(dep["replicas"] >= 2, "several replicas (%d)" % dep["replicas"])
check(dep["selector"]["matchLabels"].items() <= dep["template"]["metadata"]["labels"].items(),
      "the Deployment's selector matches its pods")
check(c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz",
      "readiness on /readyz, liveness on /healthz")
cm, sec = kinds["ConfigMap"]["data"], kinds["Secret"]["stringData"]
port = int(cm["KABINET_HTTP_LISTEN"].rsplit(":", 1)[1])
check(c["ports"][0]["containerPort"] == port, "the container port is KABINET_HTTP_LISTEN's (%d)" % port)
svc = kinds["Service"]["spec"]
check(svc["ports"][0]["targetPort"] == c["ports"][0]["name"] and svc["selector"] == dep["selector"]["matchLabels"],
      "the Service reaches the pods' http port")
bad = [k for k in list(cm) + list(sec) if not known(k)]
check(not bad, "ConfigMap and Secret hold only kabinetd's variables (%s)" % bad)
refs = {r.get("configMapRef", r.get("secretRef", {})).get("name") for r in c["envFrom"]}
check(refs == {kinds["ConfigMap"]["metadata"]["name"], kinds["Secret"]["metadata"]["name"]},
      "the pods take their environment from the ConfigMap and the Secret")

# ---------------------------------------------------------------- Dockerfile
docker = open(os.path.join(ROOT, "deploy", "Dockerfile")).read()
for src in re.findall(r"^COPY (?!--from)(\S+)", docker, re.M):
    check(os.path.exists(os.path.join(ROOT, src)), "Dockerfile copies %s, which exists" % src)
runtime = docker.split("FROM debian:12-slim\n")[1]
pkgs = re.findall(r"\b(lib[a-z0-9.+-]+|fonts-dejavu-core|ca-certificates|curl)\b", runtime.split("&&")[1])
missing = [p for p in pkgs if "Candidate: (none)" in subprocess.run(["apt-cache", "policy", p], capture_output=True,
                                                                      text=True).stdout or
           not subprocess.run(["apt-cache", "policy", p], capture_output=True, text=True).stdout.strip()]
check(len(pkgs) > 8 and not missing, "the runtime image's packages exist in Debian 12 (%s)" % (missing or len(pkgs)))

print("%d failed" % len(FAILS))
sys.exit(1 if FAILS else 0)
