/** Totals of the gateway's nodejs_gc_duration_seconds (prom-client default metrics). */
export async function gcStats(baseUrl: string): Promise<{ majorCount: number; totalSeconds: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let majorCount = 0;
  let totalSeconds = 0;
  for (const line of text.split('\n')) {
    const count = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)/.exec(line);
    if (count) majorCount += Number(count[1]);
    const sum = /^nodejs_gc_duration_seconds_sum\{kind="[^"]+"\} (\S+)/.exec(line);
    if (sum) totalSeconds += Number(sum[1]);
  }
  return { majorCount, totalSeconds };
}
