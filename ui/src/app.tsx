// The shell: navigation, theme switch and the page for the current route.
import { useEffect, useState } from "preact/hooks";
import { href, useRoute } from "./lib/router";
import { Overview } from "./pages/Overview";
import { Explore } from "./pages/Explore";
import { Dashboards } from "./pages/Dashboards";
import { Alerts, Rules, Silences, Targets } from "./pages/Alerting";
import { Incidents } from "./pages/Incidents";
import { Models } from "./pages/Models";
import { Predictions } from "./pages/Predictions";
import { EmptyState } from "./components/common";

const PAGES = [
  ["", "Overview"],
  ["explore", "Explore"],
  ["dashboards", "Dashboards"],
  ["alerts", "Alerts"],
  ["silences", "Silences"],
  ["rules", "Rules"],
  ["targets", "Targets"],
  ["incidents", "Incidents"],
  ["models", "Models"],
  ["predictions", "Predictions"],
] as const;

function ThemeSwitch() {
  const [theme, setTheme] = useState(document.documentElement.dataset.theme ?? "dark");
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("sightline.theme", theme);
    dispatchEvent(new Event("sightline:theme"));
  }, [theme]);
  const next = theme === "dark" ? "light" : "dark";
  return (
    <button class="theme" onClick={() => setTheme(next)} aria-label={`Switch to ${next} theme`} title={`Switch to ${next} theme`}>
      {theme === "dark" ? "☀" : "☾"}
    </button>
  );
}

export function App() {
  const route = useRoute();
  const page = route.parts[0] ?? "";
  useEffect(() => {
    const label = PAGES.find(([p]) => p === page)?.[1] ?? "Not found";
    document.title = `${label} · Sightline`;
  }, [page]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <nav class="top" aria-label="Pages">
        <a class="brand" href={href([])}>
          Sightline
        </a>
        {PAGES.map(([p, label]) => (
          <a key={p} href={href(p ? [p] : [])} aria-current={page === p ? "page" : undefined}>
            {label}
          </a>
        ))}
        <span class="spacer" />
        <ThemeSwitch />
      </nav>
      <main id="main" tabIndex={-1}>
        <Page page={page} route={route} />
      </main>
    </>
  );
}

function Page({ page, route }: { page: string; route: ReturnType<typeof useRoute> }) {
  switch (page) {
    case "":
      return <Overview />;
    case "explore":
      return <Explore route={route} />;
    case "dashboards":
      return <Dashboards key={route.parts[1] ?? ""} route={route} />;
    case "alerts":
      return <Alerts route={route} />;
    case "silences":
      return <Silences route={route} />;
    case "rules":
      return <Rules />;
    case "targets":
      return <Targets />;
    case "incidents":
      return <Incidents route={route} />;
    case "models":
      return <Models route={route} />;
    case "predictions":
      return <Predictions route={route} />;
    default:
      return (
        <section class="page">
          <EmptyState title="No such page">
            <a href={href([])}>Go to the overview</a>
          </EmptyState>
        </section>
      );
  }
}
