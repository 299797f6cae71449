/** The frame: navigation and the view the hash route names. */
import { useRoute, href } from './route';
import { RunsView } from './views/RunsView';
import { RunView } from './views/RunView';
import { ApprovalsView } from './views/ApprovalsView';
import { WorkflowsView } from './views/WorkflowsView';
import { WorkflowView } from './views/WorkflowView';
import { MetricsView } from './views/MetricsView';
import { DeadLettersView } from './views/DeadLettersView';
import { AuditView } from './views/AuditView';
import { CompareView } from './views/CompareView';

const SECTIONS = [
  ['runs', 'Runs'],
  ['approvals', 'Approvals'],
  ['workflows', 'Workflows'],
  ['metrics', 'Metrics'],
  ['dead-letters', 'Dead letters'],
  ['audit', 'Audit'],
] as const;

export function App() {
  const route = useRoute();
  const [section = 'runs', id] = route.segments;
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Trellis</span>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.map(([key, label]) => (
              <li key={key}>
                <a href={href(key)} aria-current={section === key ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {view(section, id, route.query)}
      </main>
    </div>
  );
}

function view(section: string, id: string | undefined, query: URLSearchParams) {
  switch (section) {
    case 'runs':
      return id ? <RunView key={id} id={id} /> : <RunsView />;
    case 'compare':
      return <CompareView left={query.get('left') ?? ''} right={query.get('right') ?? ''} />;
    case 'approvals':
      return <ApprovalsView />;
    case 'workflows':
      return id ? <WorkflowView key={id} id={id} /> : <WorkflowsView />;
    case 'metrics':
      return <MetricsView />;
    case 'dead-letters':
      return <DeadLettersView />;
    case 'audit':
      return <AuditView />;
    default:
      return <p>Nothing here. <a href={href('runs')}>Back to runs</a></p>;
  }
}
