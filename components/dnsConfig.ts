// The optional `dns` key: the zone the program manages each instance's records in, at the DNS of
// the stack's own cloud (its credentials are the stack's; another cloud's DNS would need keys the
// stack does not have). Without it the stack's outputs list the records to create by hand. Pure.
import type { CloudProvider, InstanceSettings, Problems } from "./config";
import { DOMAIN, nearMiss } from "./config";
import { DEFAULT_HOST } from "./naming";

/** The DNS service of each cloud: DigitalOcean's domains, AWS's Route 53 hosted zones. */
export const CLOUD_DNS = { digitalocean: "digitalocean", aws: "route53" } as const;
export type DnsProvider = (typeof CLOUD_DNS)[keyof typeof CLOUD_DNS];
const DNS_PROVIDERS: readonly DnsProvider[] = Object.values(CLOUD_DNS);

/** Each DNS service as people know it, for messages. */
const DNS_SERVICE: Readonly<Record<DnsProvider, string>> = { digitalocean: "DigitalOcean's DNS", route53: "AWS's Route 53" };

/** The records the program manages: every instance's domain and aliases, in one zone. */
export interface DnsSettings {
    /** The zone (a DigitalOcean domain, a public Route 53 hosted zone) every instance's domain and alias lies in, e.g. "example.org". */
    readonly zone: string;
    /** The DNS service that holds the zone: the stack's cloud's. @default "digitalocean" on digitalocean, "route53" on aws */
    readonly provider: DnsProvider;
}

export const DNS_KEYS = ["zone", "provider"] as const satisfies readonly (keyof DnsSettings)[];

/** The instances' fields the zone check reads; `host` names where the instance runs. @default DEFAULT_HOST */
export type DnsInstance = Pick<InstanceSettings, "name" | "domain" | "aliases"> & { readonly host?: string };

/** Whether a name is the zone or lies under it. */
export function inZone(name: string, zone: string): boolean {
    return name === zone || name.endsWith(`.${zone}`);
}

/**
 * `dns`: `{zone, provider?}` on a cloud stack (a local one refuses the key: CLOUD_ONLY_KEYS); every
 * instance's domain and alias lies in the zone.
 * `hostNamedHosts`: the hosts reached by a host name rather than an IP address (an existing host's
 * `host.address`), whose records are CNAMEs, which the zone's apex cannot hold.
 * @returns the settings, or undefined when `dns` is not set or has a problem (reported)
 */
export function validateDns(
    raw: unknown, provider: CloudProvider, instances: readonly DnsInstance[], problems: Problems,
    hostNamedHosts: readonly string[] = [],
): DnsSettings | undefined {
    if (raw === undefined) return undefined;
    const example = `{zone: "example.org", provider?: "${CLOUD_DNS[provider]}"}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        problems.add("dns", `must be an object ${example}, got ${JSON.stringify(raw)}`);
        return undefined;
    }
    const obj = raw as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
        if (!(DNS_KEYS as readonly string[]).includes(k)) {
            const near = nearMiss(k, DNS_KEYS);
            problems.add(`dns.${k}`, near === undefined ? `unknown key; expected one of ${DNS_KEYS.join(", ")}` : `unknown key; did you mean ${near}?`);
        }
    }
    const own = CLOUD_DNS[provider];
    let dnsProvider: DnsProvider | undefined = own;
    if (obj.provider !== undefined && obj.provider !== own) {
        dnsProvider = undefined;
        problems.add("dns.provider", DNS_PROVIDERS.includes(obj.provider as DnsProvider)
            ? `${JSON.stringify(obj.provider)} is ${DNS_SERVICE[obj.provider as DnsProvider]}, and this stack runs on ${provider}: the program manages records with the stack's own credentials, in ${DNS_SERVICE[own]} ("${own}"); set "${own}" or leave it out, or create the records in the other DNS yourself (stack output dnsRecords) and remove dns`
            : `must be "${own}" (${DNS_SERVICE[own]}, the DNS of the stack's cloud), got ${JSON.stringify(obj.provider)}`);
    }
    let zone: string | undefined;
    if (typeof obj.zone !== "string" || !DOMAIN.test(obj.zone)) {
        const dot = typeof obj.zone === "string" && obj.zone.endsWith(".") ? " (without the trailing dot)" : "";
        problems.add("dns.zone", `must be the zone's domain name${dot}, lowercase, such as "example.org", got ${JSON.stringify(obj.zone)}`);
    } else zone = obj.zone;
    // The instances' own problems come first: their list is then the config's, index for index.
    if (zone !== undefined && !problems.anyAt("instances")) {
        const z = zone;
        instances.forEach((inst, i) => {
            const names: [string, string][] = [[`instances[${i}].domain`, inst.domain], ...inst.aliases.map((a, j): [string, string] => [`instances[${i}].aliases[${j}]`, a])];
            for (const [keyPath, name] of names) {
                if (!inZone(name, z)) {
                    problems.add(keyPath, `"${name}" is not in dns.zone "${z}": the program manages records in that zone only; give the instance a name under it, or remove dns and create the records yourself (stack output dnsRecords)`);
                } else if (name === z && hostNamedHosts.includes(inst.host ?? DEFAULT_HOST)) {
                    problems.add(keyPath, `is the zone's apex, and host "${inst.host ?? DEFAULT_HOST}" is reached by a host name, which needs a CNAME record; a zone's apex holds no CNAME: give that host's address as an IP address, or the instance a name under the zone`);
                }
            }
        });
    }
    if (zone === undefined || dnsProvider === undefined) return undefined;
    return { zone, provider: dnsProvider };
}

/** A record's name as its DNS service expects it: DigitalOcean's relative to the zone ("@" for the apex), Route 53's the full name. */
export function recordName(provider: DnsProvider, name: string, zone: string): string {
    if (provider === "route53") return name;
    return name === zone ? "@" : name.slice(0, name.length - zone.length - 1);
}

/** The record that points a name at an address: A for IPv4, AAAA for IPv6, CNAME for a host name (an existing host's). */
export function recordFor(address: string): { readonly type: "A" | "AAAA" | "CNAME"; readonly value: string } {
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return { type: "A", value: address };
    if (address.includes(":")) return { type: "AAAA", value: address };
    return { type: "CNAME", value: address };
}

/** A record's value as its DNS service expects it: DigitalOcean takes a CNAME's target as a full name with its trailing dot. */
export function recordValue(provider: DnsProvider, record: ReturnType<typeof recordFor>): string {
    return provider === "digitalocean" && record.type === "CNAME" ? `${record.value}.` : record.value;
}

/** One record as the stack output `dnsRecords` lists it. */
export interface DnsRecordEntry {
    readonly name: string;
    readonly type: "A" | "AAAA" | "CNAME";
    readonly value: string;
}

/** The records that point these names at a host's address: what `dnsRecords` lists, managed (`dns`) or to create by hand. */
export function dnsRecordEntries(names: readonly string[], address: string): DnsRecordEntry[] {
    const r = recordFor(address);
    return names.map((name) => ({ name, type: r.type, value: r.value }));
}
