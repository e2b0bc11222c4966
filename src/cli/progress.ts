import cliProgress from "cli-progress";

/**
 * A progress bar on a terminal; on anything else (CI, pipes) a line every few seconds, so logs stay
 * readable. The total may come later (`update(done, total)`): until then, a count.
 */
export function progressReporter(label: string, total?: number) {
  if (process.stderr.isTTY) {
    const withTotal = `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s`;
    const countOnly = `${label} {value} rows | {rate}/s`;
    let totalKnown = total !== undefined;
    const bar = new cliProgress.SingleBar(
      {
        // cli-progress's own formatter, given the template that fits what is known.
        format: (options, params, payload) =>
          cliProgress.Format.Formatter(
            { ...options, format: totalKnown ? withTotal : countOnly },
            params,
            payload,
          ),
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    bar.start(total ?? 0, 0, { rate: 0 });
    return {
      update: (done: number, newTotal?: number) => {
        if (newTotal !== undefined) {
          totalKnown = true;
          bar.setTotal(newTotal);
        }
        bar.update(done, { rate: Math.round(done / Math.max((Date.now() - started) / 1000, 0.001)) });
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  let known = total;
  let latest: number | undefined;
  let printed: number | undefined;
  const print = () => {
    printed = latest;
    process.stderr.write(`${label}: ${latest}${known !== undefined ? `/${known}` : ""} rows\n`);
  };
  return {
    update: (done: number, newTotal?: number) => {
      known = newTotal ?? known;
      latest = done;
      if (Date.now() - last < 3000) return;
      last = Date.now();
      print();
    },
    // The last line says where it ended, not where it was a few seconds before.
    stop: () => {
      if (latest !== undefined && latest !== printed) print();
    },
  };
}
