// Time range, step and auto-refresh controls, all kept in the URL (`from`, `to`, `step`, `refresh`).
import { useEffect, useState } from "preact/hooks";
import { updateParams } from "../lib/router";
import { parseDuration, parseTime, QUICK_RANGES } from "../lib/time";

export const REFRESH_CHOICES = ["", "5s", "10s", "30s", "1m", "5m"];

export function TimeRangePicker(props: { from: string; to: string; step?: string; refresh?: string; showStep?: boolean }) {
  const [from, setFrom] = useState(props.from);
  const [to, setTo] = useState(props.to);
  const [step, setStep] = useState(props.step ?? "");
  useEffect(() => {
    setFrom(props.from);
    setTo(props.to);
    setStep(props.step ?? "");
  }, [props.from, props.to, props.step]);
  const badFrom = parseTime(from) == null;
  const badTo = parseTime(to) == null;
  const badStep = step !== "" && parseDuration(step) == null;
  const apply = (e: Event) => {
    e.preventDefault();
    if (badFrom || badTo || badStep) return;
    updateParams({ from, to, step: props.showStep ? step : undefined }, true);
  };
  return (
    <form class="range" onSubmit={apply} aria-label="Time range">
      <select
        aria-label="Quick range"
        value={props.to === "now" && QUICK_RANGES.some(([f]) => f === props.from) ? props.from : ""}
        onChange={(e) => updateParams({ from: (e.target as HTMLSelectElement).value, to: "now" }, true)}
      >
        <option value="" disabled>
          Custom
        </option>
        {QUICK_RANGES.map(([value, label]) => (
          <option value={value} key={value}>
            {label}
          </option>
        ))}
      </select>
      <input aria-label="From" class={badFrom ? "invalid" : ""} value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} size={18} title="now-1h, or 2024-05-01T10:00:00Z" />
      <span aria-hidden="true">→</span>
      <input aria-label="To" class={badTo ? "invalid" : ""} value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} size={18} />
      {props.showStep && (
        <input aria-label="Step" placeholder="auto step" class={badStep ? "invalid" : ""} value={step} onInput={(e) => setStep((e.target as HTMLInputElement).value)} size={8} />
      )}
      <button type="submit">Apply</button>
      <select aria-label="Auto-refresh" value={props.refresh ?? ""} onChange={(e) => updateParams({ refresh: (e.target as HTMLSelectElement).value })}>
        {REFRESH_CHOICES.map((r) => (
          <option value={r} key={r}>
            {r ? `every ${r}` : "no refresh"}
          </option>
        ))}
      </select>
    </form>
  );
}

/** The refresh interval in milliseconds from the URL, 0 for none. */
export function refreshMs(refresh: string | null): number {
  const s = refresh ? parseDuration(refresh) : null;
  return s ? s * 1000 : 0;
}
