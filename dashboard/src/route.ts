/**
 * Hash routes (`#/runs/run_1`): the server serves one page at one URL, so no catch-all route is
 * needed on the host, and a reload or a shared link opens the same view.
 */
import { useEffect, useState } from 'react';

export interface Route {
  /** Path segments after `#/`, decoded. */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
}

function current(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [pathPart = '', queryPart = ''] = hash.split('?');
  return { segments: pathPart.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(queryPart) };
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const onChange = () => setRoute(current());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The href of a route: `href('runs', id)` is `#/runs/<id>`. */
export function href(...segments: readonly string[]): string {
  return `#/${segments.map(encodeURIComponent).join('/')}`;
}

export function navigate(to: string): void {
  location.hash = to.replace(/^#/, '');
}
