// The part of autocannon's API that bench/e2e-realise.ts uses (the package ships no types).
declare module "autocannon" {
    interface Options {
        url: string;
        connections?: number;
        duration?: number;
        headers?: Record<string, string>;
        servername?: string;
    }
    interface Result {
        requests: { average: number };
        latency: { p99: number };
        errors: number;
        non2xx: number;
    }
    function autocannon(opts: Options): Promise<Result>;
    export default autocannon;
}
