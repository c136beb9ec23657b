// The DNS records of one host's names (`dns`): every domain and alias of its instances points at
// the host's stable address, in the stack's zone at its cloud's DNS, so the edge's certificates
// are ordered from the first run. Each record is named from its domain alone, never from the
// host, and every host's DnsRecords is of one type at the stack's root: a record's URN is the same
// whichever host serves the name, so an instance moved to another host keeps its record, which is
// updated in place to the new host's address.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as digitalocean from "@pulumi/digitalocean";
import { DnsRecordEntry, DnsSettings, dnsRecordEntries, recordFor, recordName, recordValue } from "./dnsConfig";

/**
 * The records' TTL: resolvers hold an old address at most this long after a move (a dropped
 * host, an instance moved to another host). Five minutes; Let's Encrypt asks DNS itself, uncached.
 */
export const DNS_RECORD_TTL_SECONDS = 300;

export interface DnsRecordsArgs {
    /** The zone and the DNS service that holds it (the validated `dns`). */
    readonly dns: DnsSettings;
    /** The host's stable address: its reserved IP or Elastic IP, or an existing host's `host.address`. */
    readonly address: pulumi.Input<string>;
    /** The names the host's edge serves: every domain and alias of its instances, each in the zone. */
    readonly names: readonly string[];
}

/** The Pulumi name of a name's record: from the name alone, so that it stays when its instance moves to another host. */
export function recordResourceName(name: string): string {
    return `dns-${name}`;
}

export class DnsRecords extends pulumi.ComponentResource {
    /** The records this host's names have, as they are created. */
    public readonly records: pulumi.Output<DnsRecordEntry[]>;

    constructor(name: string, args: DnsRecordsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:dns:DnsRecords", name, {}, opts);
        const { zone, provider } = args.dns;
        const address = pulumi.output(args.address);
        const record = address.apply((a) => { const r = recordFor(a); return { type: r.type, value: recordValue(provider, r) }; });
        // Route 53 records go into the zone by its id: the public hosted zone of that name.
        const zoneId = provider === "route53" ? aws.route53.getZoneOutput({ name: zone, privateZone: false }, { parent: this }).zoneId : undefined;
        for (const fqdn of args.names) {
            if (provider === "digitalocean") {
                new digitalocean.DnsRecord(recordResourceName(fqdn), {
                    domain: zone, name: recordName(provider, fqdn, zone), type: record.type, value: record.value, ttl: DNS_RECORD_TTL_SECONDS,
                }, { parent: this });
            } else {
                new aws.route53.Record(recordResourceName(fqdn), {
                    zoneId: zoneId!, name: recordName(provider, fqdn, zone), type: record.type, records: [record.value], ttl: DNS_RECORD_TTL_SECONDS,
                }, { parent: this });
            }
        }
        this.records = address.apply((a) => dnsRecordEntries(args.names, a));
        this.registerOutputs({ records: this.records });
    }
}
