import cliProgress from "cli-progress";

/**
 * A progress bar on a terminal; on anything else (CI, pipes) a line every few seconds, so logs stay
 * readable.
 */
export function progressReporter(label: string, total?: number) {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: total
          ? `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s`
          : `${label} {value} rows | {rate}/s`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    bar.start(total ?? 0, 0, { rate: 0 });
    return {
      update: (done: number) =>
        bar.update(done, { rate: Math.round(done / Math.max((Date.now() - started) / 1000, 0.001)) }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update: (done: number) => {
      if (Date.now() - last < 3000) return;
      last = Date.now();
      process.stderr.write(`${label}: ${done}${total ? `/${total}` : ""} rows\n`);
    },
    stop: () => {},
  };
}
