// Generates docs/changes.md from the change-impact matrix (tools/changeMatrix.ts): each change
// planned against its stack's golden plan, and the table says what `pulumi up` then does, what
// the portals see, what is kept and what the data-loss gate says, from the diff of the two plans.
// `npm run changes:update` rewrites the file; test/unit/change-matrix.test.ts fails when the
// committed file differs from what this produces.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { CHANGE_IDS, CHANGE_MATRIX, ChangeId, KEY_EFFECTS, MatrixChange, MatrixStack, configKeyPaths, matrixJobs } from "./changeMatrix";
import { ACKNOWLEDGEMENTS_FILE, DATA_HOLDERS, GateVerdict, dataHolderKind, dataLossGate } from "./dataLossGate";
import { PORTABLE_ROOT, PROJECT_DIR } from "./planArgs";
import type { BatchResult } from "./planBatch";
import { PlanDiff, cascadeLine, diffPlans } from "./planDiff";
import type { PlanDocument, PlannedResource } from "./planner";
import { isMachineType } from "./replacementRules";
import { VolumeRecord, deployedHosts, deployedVolumeOf, volumeChangeProblems } from "../components/volumeRecord";

export const CHANGES_DOC = path.join(PROJECT_DIR, "docs", "changes.md");

export interface MatrixResult {
    readonly id: ChangeId;
    readonly change: MatrixChange;
    readonly base: PlanDocument;
    readonly head: PlanDocument;
    readonly diff: PlanDiff;
    readonly gate: GateVerdict;
    /** The keys whose change `npm run plan -- --deployed` refuses before any plan (the data volume cannot take it in place). */
    readonly refusedBeforePlan: string[];
}

/** What the deployed-volume check (components/volumeRecord.ts) refuses when the base plan's stack is the deployed one. */
function refusedKeys(base: PlanDocument, head: PlanDocument): string[] {
    const deployed = deployedHosts(base.outputs);
    const planned = deployedHosts(head.outputs);
    if (typeof deployed === "string" || typeof planned === "string") return [];
    return [...deployed].flatMap(([name, outputs]) => {
        const volume = deployedVolumeOf(outputs);
        if (volume === undefined || typeof volume === "string") return [];
        return volumeChangeProblems(volume, planned.get(name)?.dataVolume as VolumeRecord | undefined).map((p) => p.path);
    });
}

/** The committed golden plan of a stack, with this checkout's path put back where --portable replaced it. */
export function goldenPlanOf(stack: MatrixStack): PlanDocument {
    const text = fs.readFileSync(path.join(PROJECT_DIR, "plans", `${stack}.json`), "utf8");
    return JSON.parse(text.split(PORTABLE_ROOT).join(PROJECT_DIR)) as PlanDocument;
}

/** The matrix's plans (one batch result per change, in CHANGE_IDS order) diffed against their stacks' golden plans. */
export function matrixResults(batch: readonly BatchResult[]): MatrixResult[] {
    if (batch.length !== CHANGE_IDS.length) throw new Error(`the matrix has ${CHANGE_IDS.length} changes, the batch ${batch.length} plans`);
    const bases = new Map<MatrixStack, PlanDocument>();
    return CHANGE_IDS.map((id, i) => {
        const result = batch[i];
        const change = CHANGE_MATRIX[id];
        if (!result.ok) throw new Error(`the matrix change ${id} was rejected:\n${result.problems.join("\n")}`);
        const base = bases.get(change.stack) ?? goldenPlanOf(change.stack);
        bases.set(change.stack, base);
        const head = JSON.parse(result.json) as PlanDocument;
        const diff = diffPlans(base, head);
        const gate = dataLossGate([{ stack: change.stack, removed: diff.removed, replaced: diff.changed.filter((c) => c.replaced) }], []);
        return { id, change, base, head, diff, gate, refusedBeforePlan: refusedKeys(base, head) };
    });
}

// ---- the table's cells ---------------------------------------------------------------------------

const code = (s: string) => `\`${s}\``;
const list = (names: readonly string[]) => names.map(code).join(", ");

/** "+a ~u +-r -d": how many resources are added, updated in place, replaced, deleted. */
export function counts(diff: PlanDiff): string {
    const replaced = diff.changed.filter((c) => c.replaced).length;
    return `+${diff.added.length} ~${diff.changed.length - replaced} +-${replaced} -${diff.removed.length}`;
}

function componentOf(plan: PlanDocument, r: PlannedResource): PlannedResource | undefined {
    return plan.resources.find((p) => p.urn === r.parent && !p.custom && plan.resources.filter((q) => !q.custom && q.type === p.type).length > 1);
}

/** Resources named by the component they belong to: "the instance chile (13 resources), host-port-chile". */
function namedByUnit(plan: PlanDocument, resources: readonly PlannedResource[]): string {
    const units = new Map<string, number>();
    const single: string[] = [];
    for (const r of resources) {
        // A component counts with its children when it comes or goes with them (the only DnsRecords of a stack too).
        const unit = !r.custom && resources.some((x) => x.parent === r.urn) ? r
            : resources.find((p) => p.urn === r.parent && !p.custom) ?? componentOf(plan, r);
        if (unit) units.set(unit.name, (units.get(unit.name) ?? 0) + (r === unit ? 0 : 1));
        else single.push(r.name);
    }
    return [...[...units].map(([name, n]) => `${code(name)} and its ${n} resources`), ...single.map(code)].join(", ");
}

function whatUpDoes(r: MatrixResult): string {
    const parts: string[] = [];
    if (r.diff.added.length) parts.push(`adds ${namedByUnit(r.head, r.diff.added)}`);
    for (const root of r.diff.cascades) parts.push(cascadeLine(r.head, root));
    if (r.diff.removed.length) {
        const retained = r.diff.removed.filter((x) => x.retainOnDelete).map((x) => x.name);
        parts.push(`deletes ${namedByUnit(r.base, r.diff.removed)}${retained.length ? `; keeps ${list(retained)} (retained)` : ""}`);
    }
    return parts.length ? parts.join("; ") : "nothing";
}

function refusedBy(r: MatrixResult): PlannedResource[] {
    return [...r.diff.removed.filter((x) => x.protect), ...r.diff.changed.filter((c) => c.replaced && c.before.protect).map((c) => c.before)];
}

/** What the portals see: nothing, one container's restart, or the whole host down, and for how long. */
function portals(r: MatrixResult): string {
    const replaced = r.diff.changed.filter((c) => c.replaced);
    const machine = replaced.find((c) => isMachineType(c.resource.type));
    const restart = r.diff.changed.find((c) => !c.replaced && c.restart && isMachineType(c.resource.type));
    const refused = refusedBy(r);
    if (r.refusedBeforePlan.length) {
        return `keep serving: the preview and deploy workflows refuse it before any plan (${list(r.refusedBeforePlan)}: the volume cannot take it in place; see below)`;
    }
    let effect: string;
    if (machine) {
        effect = "every portal of the host is down from the old machine's release of the volume until its containers answer on the new machine (host-replacement.md)";
    } else if (restart) {
        effect = `every portal of the host is down while ${restart.restart!.why.replace(/ \(.*\)$/, "")}`;
    } else {
        // Per unit, the roles replaced delete-first (a restart) and start-before-stop (none).
        const byUnit = new Map<string, { restarted: string[]; startedFirst: string[] }>();
        for (const c of replaced.filter((x) => x.resource.type === "docker:index/container:Container")) {
            const unit = componentOf(r.head, c.resource)?.name ?? "the host";
            const role = c.resource.name.replace(`${unit}-`, "");
            const roles = byUnit.get(unit) ?? { restarted: [], startedFirst: [] };
            (c.resource.deleteBeforeReplace ? roles.restarted : roles.startedFirst).push(role);
            byUnit.set(unit, roles);
        }
        const unitsOf = (plan: PlanDocument, resources: readonly PlannedResource[]) =>
            [...new Set(resources.map((x) => componentOf(plan, x)?.name).filter((x): x is string => !!x))];
        const gone = unitsOf(r.base, r.diff.removed);
        const started = unitsOf(r.head, r.diff.added);
        const sentences = [...byUnit].flatMap(([unit, { restarted, startedFirst }]) => [
            ...(restarted.length ? [`${unit}'s ${restarted.join(" and ")} ${restarted.length > 1 ? "restart" : "restarts"}, down for that restart (the old container is removed first: fixed names)`] : []),
            ...(startedFirst.length ? [`${unit}'s ${startedFirst.join(" and ")} ${startedFirst.length > 1 ? "are" : "is"} replaced start-before-stop, no request fails (the new container serves once healthy, then the old one stops)`] : []),
        ]);
        sentences.push(...gone.map((unit) => `${unit} is gone`), ...started.map((unit) => `${unit} starts`));
        const touched = new Set([...byUnit.keys(), ...gone, ...started]);
        const untouched = unitsOf(r.base, r.base.resources).filter((u) => !touched.has(u));
        if (!sentences.length) effect = "keep serving: no container is touched";
        else effect = `${sentences.join("; ")}${untouched.length ? `; ${untouched.length === 1 ? `${untouched[0]} keeps` : "the others keep"} serving` : ""}`;
    }
    return refused.length ? `pulumi up refuses while ${list(refused.map((x) => x.name))} ${refused.length > 1 ? "are" : "is"} protected; nothing changes until then. Once allowed: ${effect}` : effect;
}

/** The resources that hold data or identity: kept, retained, or lost. */
function kept(r: MatrixResult): string {
    const holders = r.base.resources.filter((x) => dataHolderKind(x) !== undefined);
    const lost = new Set(r.gate.findings.filter((f) => f.verdict !== "retained").map((f) => f.resource.urn));
    const retained = r.gate.findings.filter((f) => f.verdict === "retained").map((f) => f.resource.name);
    const keptNames = holders.filter((x) => !lost.has(x.urn) && !retained.includes(x.name)).map((x) => x.name);
    const out: string[] = [];
    const holds = (x: PlannedResource) => `${code(x.name)} (${DATA_HOLDERS[dataHolderKind(x)!].holds.split(":")[0]})`;
    // A replaced one that is retained on delete keeps its data where it was (an instance moved to another host).
    const emptied = holders.filter((x) => lost.has(x.urn));
    const gone = emptied.filter((x) => !x.retainOnDelete);
    const left = emptied.filter((x) => x.retainOnDelete);
    if (gone.length) out.push(`**lost**: ${gone.map(holds).join(", ")}`);
    if (left.length) out.push(`**replaced by a new, empty one**, the old one retained where it was: ${left.map(holds).join(", ")}`);
    if (retained.length) out.push(`retained: ${list(retained)}`);
    out.push(keptNames.length === holders.length ? "everything" : `kept: ${list(keptNames)}`);
    return out.join("; ");
}

function gateCell(r: MatrixResult): string {
    const blocked = r.gate.findings.filter((f) => f.verdict === "blocked").map((f) => f.resource.name);
    const retained = r.gate.findings.filter((f) => f.verdict === "retained").map((f) => f.resource.name);
    if (blocked.length) return `**fails**: ${list(blocked)}`;
    return retained.length ? `passes (${list(retained)} retained)` : "passes";
}

function rowOf(r: MatrixResult): string {
    const cells = [`<a id="${r.id}"></a>${r.change.change} (${r.change.stack})`, code(r.change.key), `${counts(r.diff)}: ${whatUpDoes(r)}`, portals(r), kept(r), gateCell(r)];
    return `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
}

export function renderChangesDoc(results: readonly MatrixResult[]): string {
    const byId = new Map(results.map((r) => [r.id, r]));
    const keyRows = configKeyPaths().map((key) => {
        const effect = KEY_EFFECTS[key];
        const text = "rows" in effect
            ? effect.rows.map((id) => `[${CHANGE_MATRIX[id].change} (${CHANGE_MATRIX[id].stack})](#${id}): ${counts(byId.get(id)!.diff)}, gate ${gateCell(byId.get(id)!).replace(/\*\*/g, "")}`).join("; ")
            : effect.note;
        return `| ${code(key)} | ${text.replace(/\|/g, "\\|")} |`;
    });
    return [
        "<!-- Generated by `npm run changes:update` (tools/changesDoc.ts) from the change matrix (tools/changeMatrix.ts). Do not edit: `npm test` fails when this file differs. -->",
        "# What a change does to a running stack",
        "",
        "Read this before you edit a stack file. Each row below is a change planned by the unit tests",
        "against the committed plan of its stack (`plans/`), and what the offline plan diff then says:",
        "what `pulumi up` does, what the portals see, what is kept, and the data-loss gate's verdict. The",
        "figures `+a ~u +-r -d` count the resources added, updated in place, replaced and deleted. The",
        "pull request's plan diff (`npm run plan:diff`) shows the same for your change, with the full",
        "tree of each cascade.",
        "",
        "Which inputs replace a resource comes from the providers' own schemas",
        "([tools/replacementRules.ts](../tools/replacementRules.ts) names the source of each). A replaced",
        "resource gets a new id, so whatever takes its id is changed too, and so on: the cascade.",
        "",
        "## Typical changes",
        "",
        "| change | key | what `pulumi up` does | the portals | what holds data or identity | data-loss gate |",
        "|---|---|---|---|---|---|",
        ...results.map(rowOf),
        "",
        "\"Keep serving\" means no container is touched: their ids stay the same. A container that is",
        "replaced is removed before its successor starts (its Docker name is fixed), so its instance is",
        "down for that restart. On DigitalOcean and AWS a replaced machine keeps the data volume and the",
        "address; its downtime, measured on the e2e tier's engine, is in [host-replacement.md](host-replacement.md),",
        "and the deploy workflow takes a fresh dump and snapshot first when the preview shows one.",
        "",
        "## Every config key",
        "",
        "| key | what a change does |",
        "|---|---|",
        ...keyRows,
        "",
        "Not planned here: a smaller `volume.sizeGb` (refused before any plan, below; restore into a",
        "new, smaller volume instead, [restore.md](restore.md)), and the edge's ACME CA, which does not",
        "exist yet.",
        "",
        "## Changes the data volume cannot take",
        "",
        "A cloud cannot rename a DigitalOcean volume, move a volume to another region or zone, change its",
        "encryption key or the snapshot it was made from, or shrink it, without replacing it, and a replaced",
        "volume is a new disk without the portal's data. The stack exports the facts of its volume",
        "(output `dataVolume`), and the preview and deploy workflows compare the new config with them",
        "before anything is planned (the rows above that say so were planned without this check, to show",
        "what would follow):",
        "",
        "```bash",
        "npx pulumi stack output --json --stack staging > deployed.json",
        "npm run plan -- --stack staging --deployed deployed.json",
        "```",
        "",
        "Each refused change is one line at the key that makes it, exit status 2, for example",
        "`volume.name: the deployed volume's name is \"housing-portal-staging-data\"; DigitalOcean cannot change it to \"portal-data\" without replacing the volume, …`.",
        "A stack deployed before this output existed gets it at its next `pulumi up`, and is compared from",
        "then on. To move data anyway, restore a snapshot into a new stack ([restore.md](restore.md)).",
        "",
        "## Acknowledging data loss",
        "",
        "The plan diff's data-loss gate fails a pull request that deletes or replaces a resource that",
        `holds data or identity (${Object.values(DATA_HOLDERS).map((h) => h.holds.split(":")[0]).join("; ")}), and names each one`,
        "and why. Removing an instance passes: its database volume is retained, and the diff says so.",
        "",
        `When the loss is intended, add an entry per resource to \`plans/${ACKNOWLEDGEMENTS_FILE}\` in the`,
        "same pull request:",
        "",
        "```yaml",
        "- stack: staging",
        "  resource: host-ip",
        "  reason: moving staging to ams3; DNS is updated by hand after the deploy",
        "```",
        "",
        "Only entries this pull request adds count (the base branch's file is compared), and an entry",
        "that names nothing the change deletes or replaces fails the gate too, so an acknowledgement",
        "never outlives its change. A protected resource still needs `pulumi state unprotect` before",
        "`pulumi up` goes ahead: the gate is a reviewer's check, not a way around the protection.",
        "",
    ].join("\n");
}

/** Plans the matrix in one child process (tools/planBatch.ts). */
export async function planMatrix(): Promise<BatchResult[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-matrix-"));
    try {
        const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", path.join(__dirname, "planBatch.ts"), JSON.stringify(matrixJobs(dir))], {
            cwd: PROJECT_DIR, maxBuffer: 256 << 20,
        });
        return JSON.parse(stdout) as BatchResult[];
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

if (require.main === module) {
    planMatrix().then((batch) => {
        const text = renderChangesDoc(matrixResults(batch));
        const before = fs.existsSync(CHANGES_DOC) ? fs.readFileSync(CHANGES_DOC, "utf8") : undefined;
        fs.writeFileSync(CHANGES_DOC, text);
        process.stdout.write(`${before === text ? "unchanged" : "written  "} ${path.relative(process.cwd(), CHANGES_DOC)}\n`);
    }).catch((err: unknown) => {
        process.stderr.write(`changes:update failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
    });
}


